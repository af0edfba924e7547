#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=60
// The Node flags above are pingpull's memory defaults (README, "Deploying",
// Memory): a young generation of 2 × 8 MB and an old generation allowed to
// grow to 1.6× what is live between full collections. `node bin/pingpull.js`
// runs without them; the Dockerfile's ENTRYPOINT passes the same flags.
import { main } from '../dist/cli/main.js';

await main(process.argv);
