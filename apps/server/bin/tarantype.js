#!/usr/bin/env node
// The `tarantype` command (npx tarantype …): runs the built CLI.
import '../dist/cli.js';
