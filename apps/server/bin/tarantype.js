#!/usr/bin/env node
// The `tarantype` command: runs the built CLI in this process (so a supervisor that starts it
// gets the server's PID and exit code; see README "Under a supervisor").
import '../dist/cli.js';
