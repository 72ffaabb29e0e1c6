// Whether dist/ was built from the sources now in src/: `npm start`, the admin CLI and the bin refuse a stale
// build instead of running old code silently. The build records a fingerprint of its inputs in
// dist/build-info.json; a check stats the inputs (a few ms) and reads them only when the stats differ (a
// checkout that touched files without changing them), so a fresh build is never reported stale.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const INFO_FILE = path.join('dist', 'build-info.json');
/** Files outside src/ that change what the build emits. */
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'tsconfig.client.json'];

function inputFiles(root) {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.isFile()) files.push(relative);
    }
  };
  walk('src');
  return [...files.sort(), ...CONFIG_FILES.filter((file) => fs.existsSync(path.join(root, file)))];
}

function digest(root, files, part) {
  const hash = crypto.createHash('sha256');
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(part(path.join(root, file)))
      .update('\0');
  return hash.digest('hex');
}

const statsOf = (root, files) =>
  digest(root, files, (file) => {
    const stat = fs.statSync(file);
    return `${stat.size} ${stat.mtimeMs}`;
  });
const contentsOf = (root, files) => digest(root, files, (file) => fs.readFileSync(file));

/** Records the inputs the build in `root`/dist was made from (the last step of `npm run build`). */
export function writeBuildInfo(root) {
  const files = inputFiles(root);
  const info = { builtAt: new Date().toISOString(), stats: statsOf(root, files), contents: contentsOf(root, files) };
  fs.writeFileSync(path.join(root, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
}

/** Why `root`/dist cannot be run as it is (no build, or built from other sources); undefined when it is current. */
export function staleBuild(root) {
  let info;
  try {
    info = JSON.parse(fs.readFileSync(path.join(root, INFO_FILE), 'utf8'));
  } catch {
    return 'there is no complete build in dist/';
  }
  const files = inputFiles(root);
  if (info.stats === statsOf(root, files) || info.contents === contentsOf(root, files)) return undefined;
  return `src/ changed since dist/ was built (${info.builtAt})`;
}

/** Exits with one clear line when the build is stale; the fix is the same whatever changed. */
export function requireCurrentBuild(root) {
  const reason = staleBuild(root);
  if (!reason) return;
  process.stderr.write(`cannot start: ${reason}; run \`npm run build\` (or \`npm ci\` after a pull that changed dependencies)\n`);
  process.exit(1);
}
