#!/usr/bin/env node
// Runs the compiled CLI (npm run build first): npm run services -- up|down|status
import '../dist/devenv/cli.js';
