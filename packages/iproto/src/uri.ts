// Connection URIs as Tarantool spells them: "[user[:password]@]host:port", "host:port", "port".
// Layer: iproto. User and password may be percent-encoded (for ':' or '@' inside them).

export interface UriParts {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
}

/** Parses a connection URI; throws TypeError on malformed input. */
export function parseUri(uri: string): UriParts {
  let rest = uri.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  let user: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const credentials = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = credentials.indexOf(':');
    user = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : credentials);
    if (colon >= 0) password = decodeURIComponent(credentials.slice(colon + 1));
  }
  let host = '127.0.0.1';
  let portText = rest;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    host = rest.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || host;
    portText = rest.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new TypeError(`invalid port in URI '${uri}'`);
  const parts: { host: string; port: number; user?: string; password?: string } = { host, port };
  if (user !== undefined && user !== '') parts.user = user;
  if (password !== undefined) parts.password = password;
  return parts;
}
