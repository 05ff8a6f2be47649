import init, { RecordingStore, type Recording } from "tapesync";

await init(); // fetches tapesync_bg.wasm, which the bundler emitted with the app
const store = await RecordingStore.open({ name: "my-app" });

const input = document.querySelector<HTMLInputElement>("#file")!;
const list = document.querySelector<HTMLUListElement>("#recordings")!;
const status = document.querySelector<HTMLParagraphElement>("#status")!;

// A WAV file is stored as FLAC (the encoder module loads on first use); other audio as it is.
input.addEventListener("change", async () => {
  for (const file of Array.from(input.files ?? [])) {
    await store.save(file, { name: file.name, compress: "flac" });
  }
});

async function row(rec: Recording): Promise<HTMLLIElement> {
  const li = document.createElement("li");
  li.textContent = `${rec.name} (${rec.mimeType}, ${rec.size} bytes) `;
  const blob = await store.getBlob(rec.id);
  if (blob && rec.playable) {
    const audio = new Audio(URL.createObjectURL(blob));
    audio.controls = true;
    li.append(audio);
  }
  return li;
}

async function show(): Promise<void> {
  const { items } = await store.list({ limit: 50 });
  const rows = await Promise.all(items.map(row));
  list.querySelectorAll("audio").forEach((audio) => URL.revokeObjectURL(audio.src));
  list.replaceChildren(...rows);
}
let shown = show();
const refresh = () => (shown = shown.then(show)); // one render at a time, the last one current

// Each event's detail is typed (TapesyncEventMap): a ChangeDetail here,
store.addEventListener("change", (e) => {
  status.textContent = `${e.detail.kind}: ${e.detail.ids.join(", ")}`;
  if (e.detail.kind !== "hash") refresh(); // a content hash changes nothing shown
});
// a SyncStateDetail here: its report is a SyncReport, or the TapesyncError that stopped the sync.
store.addEventListener("syncstate", (e) => {
  if (e.detail.state === "error") {
    const { report } = e.detail;
    status.textContent = "code" in report ? `sync failed: ${report.code}` : `sync: ${report.outcome.kind}`;
  }
});
await shown;
input.disabled = false; // ready: the page's file input starts disabled
