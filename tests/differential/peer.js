// Runs independent SCIM implementations on cases roster-scim's differential test sends on stdin, and prints
// their answers as JSON on stdout.
//   {"filters": [..], "resources": [..]}         -> {"filters": [{"ok", "error", "matches": [bool per resource]}]}
//   {"patches": [{"resource", "operations"}]}     -> {"patches": [{"ok", "error", "result"}]}
"use strict";
const { parse, filter } = require("scim2-parse-filter");
const { scimPatch } = require("scim-patch");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
if (input.filters) {
  out.filters = input.filters.map((text) => {
    try {
      const test = filter(parse(text));
      return { ok: true, matches: input.resources.map((r) => Boolean(test(r))) };
    } catch (e) {
      return { ok: false, error: String(e && e.message) };
    }
  });
}
if (input.patches) {
  out.patches = input.patches.map(({ resource, operations }) => {
    try {
      // scimPatch mutates its argument: give it a copy.
      return { ok: true, result: scimPatch(JSON.parse(JSON.stringify(resource)), operations) };
    } catch (e) {
      return { ok: false, error: String(e && (e.name + ": " + e.message)) };
    }
  });
}
process.stdout.write(JSON.stringify(out));
