/** A size as people read it: `1 MiB`, `515.0 MiB`, `12.5 KiB`, `900 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Number.isInteger(bytes / 1024 ** 2) ? bytes / 1024 ** 2 : (bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${Number.isInteger(bytes / 1024) ? bytes / 1024 : (bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}
