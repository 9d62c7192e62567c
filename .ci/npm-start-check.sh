#!/usr/bin/env bash
# Runs `npm start` as the README says (with a console on a terminal: `script` gives it a pty),
# waits for "ready to accept requests", types one line into its console to let guest create and
# write (the only way a default instance has to grant anything), then pings, inserts and selects
# through tarantool-driver. Stops the server by the PID it logs, and exits non-zero unless all
# of it worked. Meant to run in its own network namespace (port 3301). Usage: $0 <work dir>
set -uo pipefail
work="$1"
log="$work/start.log"
[ "$(ip -br link show lo 2>/dev/null | awk '{print $2}')" = UP ] || ip link set lo up
mkfifo "$work/console-in"
exec 3<>"$work/console-in"
script -qfec "npm start" /dev/null <"$work/console-in" >"$log" 2>&1 &
script_pid=$!
ready=0
for _ in $(seq 1 480); do
  if grep -q "ready to accept requests" "$log"; then ready=1; break; fi
  kill -0 "$script_pid" 2>/dev/null || break
  sleep 0.5
done
server_pid="$(grep -o 'main I> ready to accept requests' -B0 "$log" >/dev/null && sed -n 's/^[0-9-]* [0-9:.]* \[\([0-9]*\)\] main I> ready to accept requests.*/\1/p' "$log" | head -n 1)"
status=1
if [ "$ready" = 1 ] && [ -n "$server_pid" ]; then
  sleep 0.5
  echo "box.schema.user.grant('guest', 'read,write,execute,create', 'universe')" >&3
  for _ in $(seq 1 20); do grep -q "^\.\.\." "$log" && break; sleep 0.25; done
  node .ci/start-probe.mjs 3301 && status=0
else
  echo "[ci] npm start never said 'ready to accept requests'"
fi
if [ -n "$server_pid" ]; then
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.25; done
fi
exec 3>&-
wait "$script_pid" 2>/dev/null
if [ "$status" != 0 ]; then echo "[ci] npm start log:"; cat "$log"; fi
exit "$status"
