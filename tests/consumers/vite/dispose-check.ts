// With lib esnext, every class of the package is Disposable: `using` frees it at the end of the block.
import { RecordingStore, FirebaseRemote } from "tapesync";

export function scoped(store: RecordingStore): void {
  using disposed = store;
  const remote: Disposable = new FirebaseRemote({ bucket: "b", getToken: () => "t" });
  void remote;
  void disposed;
}
