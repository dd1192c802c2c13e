// Regenerates js_cases.json from js_cases.txt with node, so the Go tests
// compare against what JavaScript itself prints:
//   node expr/testdata/gen.js
const fs = require('fs');
const path = require('path');
const dir = __dirname;
const input = JSON.parse(fs.readFileSync(path.join(dir, 'js_input.json'), 'utf8'));
const env = { ENVIRONMENT: 'production' };
// show renders a value the way the Go test renders Eval's result.
function show(v) {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return 'number ' + String(v);
  if (typeof v === 'string') return 'string ' + JSON.stringify(v);
  return typeof v + ' ' + JSON.stringify(v);
}
const lines = fs.readFileSync(path.join(dir, 'js_cases.txt'), 'utf8').split('\n');
const out = [];
for (let i = 0; i < lines.length; i++) {
  let src = lines[i];
  if (src === '' || src.startsWith('#')) continue;
  // A line ending in a backslash continues a string literal onto the next.
  while (src.endsWith('\\') && i + 1 < lines.length) src += '\n' + lines[++i];
  const fn = new Function('input', 'env', '"use strict"; return (' + src + ');');
  out.push({ expr: src, want: show(fn(input, env)) });
}
fs.writeFileSync(path.join(dir, 'js_cases.json'), JSON.stringify(out, null, 1) + '\n');
console.log(out.length + ' cases');
