// Whether dist/ was built from the sources now in src/: `npm start`, the admin CLI and the bin refuse a stale
// build instead of running old code silently. The build records a fingerprint of its inputs in
// dist/build-info.json; a check stats the inputs (a few ms) and reads them only when the stats differ (a
// checkout that touched files without changing them), so a fresh build is never reported stale. That first
// pass is synchronous: a few hundred stat calls cost less so than as many event-loop callbacks competing with
// the start-up they guard.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const INFO_FILE = path.join('dist', 'build-info.json');
/** Files outside src/ that change what the build emits. */
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'tsconfig.client.json'];

/** The build's inputs, relative to `root`, in a stable order. */
function inputFiles(root) {
  const entries = fs.readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
  const configs = CONFIG_FILES.filter((file) => fs.existsSync(path.join(root, file)));
  return [...files.sort(), ...configs];
}

/** A digest of every file's `parts` (in the order of `files`). */
function digest(files, parts) {
  const hash = crypto.createHash('sha256');
  files.forEach((file, i) => hash.update(`${file}\0`).update(parts[i]).update('\0'));
  return hash.digest('hex');
}

const statsOf = (root, files) =>
  digest(
    files,
    files.map((file) => {
      const stat = fs.statSync(path.join(root, file));
      return `${stat.size} ${stat.mtimeMs}`;
    }),
  );
const contentsOf = async (root, files) =>
  digest(files, await Promise.all(files.map((file) => fs.promises.readFile(path.join(root, file)))));

/** Records the inputs the build in `root`/dist was made from (the last step of `npm run build`). */
export async function writeBuildInfo(root) {
  const files = inputFiles(root);
  const info = { builtAt: new Date().toISOString(), stats: statsOf(root, files), contents: await contentsOf(root, files) };
  fs.writeFileSync(path.join(root, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
}

/** Why `root`/dist cannot be run as it is (no build, or built from other sources); undefined when it is current. */
export async function staleBuild(root) {
  let info;
  try {
    info = JSON.parse(fs.readFileSync(path.join(root, INFO_FILE), 'utf8'));
  } catch {
    return 'there is no complete build in dist/';
  }
  const files = inputFiles(root);
  if (info.stats === statsOf(root, files) || info.contents === (await contentsOf(root, files))) return undefined;
  return `src/ changed since dist/ was built (${info.builtAt})`;
}

/** Exits with one clear line when the build is stale; the fix is the same whatever changed. */
export function exitIfStale(reason) {
  if (!reason) return;
  process.stderr.write(`cannot start: ${reason}; run \`npm run build\` (or \`npm ci\` after a pull that changed dependencies)\n`);
  process.exit(1);
}
