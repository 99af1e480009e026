import type { StoredFile, UnfinishedUpload } from "../../services/fileService";
import ProgressBar from "../../components/ProgressBar";
import FieldError from "../../components/FieldError";
import { formatBytes, formatDate } from "../../utils/format";
import type { UploadItem } from "./model";

const STATE_TEXT: Record<UploadItem["state"], string> = {
  uploading: "Uploading",
  paused: "Paused",
  uploaded: "Uploaded",
  failed: "Failed",
};

export default function UploadStep({
  items,
  onFiles,
  onPause,
  onResume,
  onRemove,
  previous,
  onUsePrevious,
  unfinished,
  onDiscard,
  errors,
}: {
  items: UploadItem[];
  onFiles: (files: File[]) => void;
  onPause: (key: string) => void;
  onResume: (key: string) => void;
  onRemove: (key: string) => void;
  previous: StoredFile[];
  onUsePrevious: (file: StoredFile) => void;
  unfinished: UnfinishedUpload[];
  onDiscard: (item: UnfinishedUpload) => void;
  errors?: string[];
}) {
  const chosenIds = new Set(items.map((i) => i.fileId));
  const open = unfinished.filter((u) => !items.some((i) => i.name === u.filename && i.state !== "failed"));
  return (
    <div>
      <h2>Upload your genotypes</h2>
      <p>
        Bgzipped VCF files (<code>.vcf.gz</code>), one or several (for instance one per chromosome). Large files
        are sent in 8 MiB pieces; if the connection drops or you reload the page, choose the same file again
        and the upload continues where it stopped.
      </p>
      <label htmlFor="upload-input" className="file-label">
        Choose VCF files
      </label>
      <input
        id="upload-input"
        type="file"
        accept=".vcf.gz,.gz"
        multiple
        aria-describedby="upload-input-error"
        onChange={(e) => {
          const files = Array.from(e.target.files ?? []);
          if (files.length) onFiles(files);
          e.target.value = "";
        }}
      />
      <FieldError id="upload-input-error" messages={errors} />

      {open.length > 0 && (
        <div className="notice" role="note">
          <p>
            <strong>Unfinished uploads in this browser.</strong> Choose the same file again to continue:
          </p>
          <ul>
            {open.map((u) => (
              <li key={u.key}>
                {u.filename} ({formatBytes(u.size)}, started {formatDate(u.createdAt)}){" "}
                <button type="button" className="link-button" onClick={() => onDiscard(u)}>
                  Discard {u.filename}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}

      {items.length > 0 && (
        <ul className="uploads" aria-label="Files for this job">
          {items.map((item) => (
            <li key={item.key} className="upload-item">
              <div className="upload-head">
                <strong>{item.name}</strong> <span className="muted">{formatBytes(item.size)}</span>{" "}
                <span className={`badge badge-upload-${item.state}`}>{STATE_TEXT[item.state]}</span>
                {item.resumed && <span className="muted"> (resumed from an earlier upload)</span>}
              </div>
              <ProgressBar value={item.progress} label={`Upload of ${item.name}`} />
              {item.error && (
                <p className="field-error" role="alert">
                  {item.error}
                </p>
              )}
              <div className="actions">
                {item.state === "uploading" && (
                  <button type="button" onClick={() => onPause(item.key)}>
                    Pause {item.name}
                  </button>
                )}
                {(item.state === "paused" || item.state === "failed") && (
                  <button type="button" onClick={() => onResume(item.key)}>
                    Resume {item.name}
                  </button>
                )}
                <button type="button" className="link-button" onClick={() => onRemove(item.key)}>
                  Remove {item.name}
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}

      {previous.length > 0 && (
        <details className="previous-files">
          <summary>Or use a file you uploaded before ({previous.length})</summary>
          <ul>
            {previous.map((file) => (
              <li key={file.id}>
                {file.name} <span className="muted">({formatBytes(file.size)}, {formatDate(file.created_at)})</span>{" "}
                <button type="button" onClick={() => onUsePrevious(file)} disabled={chosenIds.has(file.id)}>
                  {chosenIds.has(file.id) ? "Added" : `Use ${file.name}`}
                </button>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
