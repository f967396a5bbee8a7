// Fails when package.json (exports, main, module, types, browser) names a file that the build did not
// produce, so a broken entry can never be packed. Run by `npm run build` after building.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const targets = []; // [where in package.json, path]
const walk = (value, where) => {
  if (typeof value === 'string') targets.push([where, value]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, `${where}["${k}"]`);
};
walk(pkg.exports, 'exports');
for (const field of ['main', 'module', 'types', 'browser']) walk(pkg[field], field);

const problems = [];
if (!pkg.exports) problems.push('package.json has no "exports"');
for (const [where, path] of targets) {
  if (path === './package.json') continue;
  // Only dist is published (files: ["dist", "README.md"]), so every entry must live there.
  if (!/^\.\/dist\//.test(path)) problems.push(`${where}: "${path}" is outside ./dist`);
  else if (!existsSync(join(root, path))) problems.push(`${where}: "${path}" does not exist`);
}
if (problems.length) {
  console.error(`check-exports: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-exports: ${targets.length} paths in package.json exist`);
