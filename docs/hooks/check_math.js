// Parses every formula of a built site with the site's own KaTeX copy, as the browser will.
// Usage: node docs/hooks/check_math.js SITE_DIR   (exit 1 and one line per formula KaTeX
// rejects; tests/test_docs_site.py runs it after `mkdocs build`).
const fs = require("fs");
const path = require("path");
const katex = require(path.join(__dirname, "..", "assets", "katex", "katex.min.js"));

function htmlFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? htmlFiles(p) : e.name.endsWith(".html") ? [p] : [];
  });
}

function unescape(s) {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

const pattern = /<(span|div) class="arithmatex">([\s\S]*?)<\/\1>/g;
let count = 0, failures = 0;
for (const file of htmlFiles(process.argv[2])) {
  const html = fs.readFileSync(file, "utf8");
  for (const m of html.matchAll(pattern)) {
    const body = unescape(m[2]).trim();
    const display = body.startsWith("\\[");
    const tex = body.slice(2, -2);
    count += 1;
    try {
      katex.renderToString(tex, { displayMode: display, throwOnError: true });
    } catch (err) {
      failures += 1;
      console.log(`${path.relative(process.argv[2], file)}: ${err.message.split("\n")[0]} in: ${tex.slice(0, 120)}`);
    }
  }
}
console.log(`${count} formulas, ${failures} rejected by KaTeX`);
process.exit(failures ? 1 : 0);
