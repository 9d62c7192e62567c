import { describe, expect, it } from 'vitest';
import { parseUri } from './uri.js';

describe('parseUri', () => {
  it('parses the forms Tarantool accepts', () => {
    expect(parseUri('3301')).toEqual({ host: '127.0.0.1', port: 3301 });
    expect(parseUri('localhost:3301')).toEqual({ host: 'localhost', port: 3301 });
    expect(parseUri('tester:secret@10.0.0.1:3301')).toEqual({
      host: '10.0.0.1',
      port: 3301,
      user: 'tester',
      password: 'secret',
    });
    expect(parseUri('guest@host:1')).toEqual({ host: 'host', port: 1, user: 'guest' });
    expect(parseUri('tcp://u:p@[::1]:3301')).toEqual({
      host: '::1',
      port: 3301,
      user: 'u',
      password: 'p',
    });
    expect(parseUri('u:p%40ss%3Aw@h:2')).toEqual({
      host: 'h',
      port: 2,
      user: 'u',
      password: 'p@ss:w',
    });
    expect(parseUri('u:p@ss@h:2').password).toBe('p@ss');
  });

  it('rejects bad ports', () => {
    expect(() => parseUri('host:http')).toThrow(TypeError);
    expect(() => parseUri('host:70000')).toThrow(TypeError);
    expect(() => parseUri('')).toThrow(TypeError);
  });
});
