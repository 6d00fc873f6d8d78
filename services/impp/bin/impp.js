#!/usr/bin/env node
// The `impp` command as npm links it. Committed plain JS so the link exists on a fresh clone
// before the build; the code itself is the compiled src/bin.ts.
import "../dist/bin.js";
