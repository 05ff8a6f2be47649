// IndexedDB helpers shared by the benchmark pages.

/** Deletes database `name`; fails instead of hanging when an open connection blocks it. */
export function deleteDb(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    const timer = setTimeout(() => reject(new Error(`deleting ${name} is blocked by an open connection`)), 20000);
    req.onsuccess = () => (clearTimeout(timer), resolve());
    req.onerror = () => (clearTimeout(timer), reject(req.error));
  });
}
