/**
 * A module (or anything) loaded on first use and then kept: heavy dependencies — cloud SDKs, SSH,
 * FTP, PGP, PostgreSQL, mail — are imported by the component that needs them when it first
 * connects, so commands that never touch them start without their cost.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}
