// The dataset an offline run trained on, for the run page's header: its name (a link to the
// Datasets page, which picks it out) and its sha256, short, with the whole hash on hover.
// The offline runner's meta record carries both under config.offline.

import { esc, shortHash } from "./format.js";

export function datasetPart(run) {
  const offline = run?.config?.offline;
  const name = offline && (offline.offline_dataset ?? offline.dataset);
  if (!name) return null;
  const sha = offline.dataset_sha256;
  return `<span data-testid="run-dataset">dataset <a class="mono" href="#/datasets?name=${encodeURIComponent(name)}"
    title="the dataset this offline run trained on">${esc(name)}</a>${sha
    ? ` <span class="mono muted" data-testid="run-dataset-sha" title="sha256 ${esc(sha)}">${esc(shortHash(sha, 12))}</span>` : ""}</span>`;
}
