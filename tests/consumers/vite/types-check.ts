// Compiled only (tsc in tests/js/consumers.test.mjs): each event's detail has its exact type, and a
// wrong event name, detail field or listener does not compile. An `any` detail fails here too: the
// exact-type checks are false and the @ts-expect-error lines become unused directives.
import {
  RecordingStore,
  type ChangeDetail,
  type NetworkChangeDetail,
  type SyncConflictDetail,
  type SyncFailureDetail,
  type SyncProgressDetail,
  type SyncReport,
  type SyncStateDetail,
  type TapesyncError,
  type TapesyncEventListener,
  type TapesyncEventMap,
} from "tapesync";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const exact = <A, B>(same: Equal<A, B>): boolean => same;

export function typedEvents(store: RecordingStore): void {
  store.addEventListener("change", (e) => {
    exact<typeof e, CustomEvent<ChangeDetail>>(true);
    exact<typeof e.detail.kind, "save" | "update" | "delete" | "hash" | "capture" | "sync" | "evict">(true);
    exact<typeof e.detail.ids, string[]>(true);
  });
  store.addEventListener("syncstate", (e) => {
    exact<typeof e.detail, SyncStateDetail>(true);
    if (e.detail.state === "error") exact<typeof e.detail.report, SyncReport | TapesyncError>(true);
    if (e.detail.state === "idle") exact<typeof e.detail.report, SyncReport | null>(true);
    if (e.detail.state === "syncing" || e.detail.state === "offline") exact<typeof e.detail.report, null>(true);
  });
  store.addEventListener("syncprogress", (e) => {
    exact<typeof e.detail, SyncProgressDetail>(true);
    if (e.detail.phase !== undefined) {
      exact<typeof e.detail.id, string>(true);
      exact<typeof e.detail.sent, number>(true);
    } else {
      exact<typeof e.detail.stage, "flush" | "pull" | "scan" | "transfer" | "seal">(true);
      exact<typeof e.detail.done, number>(true);
    }
    exact<typeof e.detail.total, number>(true);
  });
  store.addEventListener("syncconflict", (e) => {
    exact<typeof e.detail, SyncConflictDetail>(true);
    exact<typeof e.detail.kept, "local" | "cloud">(true);
    exact<typeof e.detail.copy, string | null>(true);
  });
  store.addEventListener("syncfailure", (e) => {
    exact<typeof e.detail, SyncFailureDetail>(true);
    if (e.detail.id !== undefined) exact<typeof e.detail.status, number | null>(true);
    else exact<typeof e.detail.seq, number>(true);
  });
  store.addEventListener("networkchange", (e) => {
    exact<typeof e.detail, NetworkChangeDetail>(true);
    exact<typeof e.detail.online, boolean>(true);
  });

  const onChange = (e: TapesyncEventMap["change"]) => console.log(e.detail.ids);
  store.addEventListener("change", onChange, { once: true });
  store.removeEventListener("change", onChange);
  const onState: TapesyncEventListener<"syncstate"> = (e) => console.log(e.detail.state);
  store.addEventListener("syncstate", onState);
  store.removeEventListener("syncstate", null);

  // @ts-expect-error: no such event
  store.addEventListener("chnage", () => {});
  // @ts-expect-error: a change's detail has no `online`
  store.addEventListener("change", (e) => e.detail.online);
  // @ts-expect-error: a networkchange's `online` is a boolean
  store.addEventListener("networkchange", (e) => e.detail.online.toFixed());
  // @ts-expect-error: a listener of `change` is not one of `syncstate`
  store.removeEventListener("syncstate", onChange);
}
