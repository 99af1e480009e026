"""Protocol payloads written from reference/protocols.md, in the exact shapes the real servers send.

Cloudgene 3 (§1.3, §1.5, §1.6, §1.8): server info (with the misspelt `maintenace`), the app form with `apps@` panel
keys and populations bound to them, JobInfo for every state code with step messages as the pipeline writes them
(HTML, `::error::` markers) and outputParams with download counters; error bodies `{success:false, message}`.
GA4GH (§2, §3, §4): service-info variants (full 1.1, starter kit, broken), RunLog, TaskLog, RunSummary, DRS
objects; errors `{msg, status_code}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

APP_ID = "imputationserver2"
APP_VERSION = "2.0.12"
EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: recorded timestamps are fixed so assertions are exact
RETIRE_MS = EPOCH_MS + 3 * 86_400_000


@dataclass(frozen=True)
class RecordedPanel:
    """One ref panel app as MIS lists it: `apps@<id>@<version>`, its label and the populations bound to it."""

    id: str
    version: str
    label: str
    populations: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        return f"apps@{self.id}@{self.version}"


PANELS = (
    RecordedPanel(
        "1000g-phase-3-v5",
        "2.0.0",
        "1000G Phase 3 (GRCh37/hg19)",
        (("afr", "AFR"), ("amr", "AMR"), ("eas", "EAS"), ("eur", "EUR"), ("sas", "SAS"), ("off", "off")),
    ),
    RecordedPanel(
        "hrc-r1.1", "2.0.0", "HRC r1.1 2016 (GRCh37/hg19)", (("eur", "EUR"), ("mixed", "Mixed"), ("off", "off"))
    ),
    RecordedPanel("topmed-r3", "1.0.0", "TOPMed r3", (("all", "All"), ("off", "off"))),
    RecordedPanel("cappa", "1.0.0", "CAAPA - African American Panel", (("AA", "AA"), ("off", "off"))),
)


def server_info(*, username: str | None, maintenance: bool, message: str = "") -> dict[str, Any]:
    """`GET /api/v2/server`: `apps` is empty and `user` null unless the token signs someone in."""
    user = None
    apps = []
    if username is not None:
        user = {"username": username, "mail": f"{username}@example.org", "admin": False, "name": username.title()}
        apps = [{"id": f"{APP_ID}@{APP_VERSION}", "name": "Genotype Imputation (Minimac4)", "version": APP_VERSION}]
    return {
        "name": "Michigan Imputation Server (recorded)",
        "background": "#ffffff",
        "foreground": "#000000",
        "footer": "",
        "user": user,
        "apps": apps,
        "deprecatedApps": [],
        "experimentalApps": [],
        "loggedIn": username is not None,
        "maintenace": maintenance,
        "maintenaceMessage": message,
        "oauth": False,
        "navigation": [],
    }


def app_form(panels: tuple[RecordedPanel, ...] = PANELS) -> dict[str, Any]:
    """`GET /api/v2/server/apps/imputationserver2`: the submit form's params (§1.3, §1.8)."""
    return {
        "id": f"{APP_ID}@{APP_VERSION}",
        "name": "Genotype Imputation (Minimac4)",
        "version": APP_VERSION,
        "description": "Recorded imputationserver2 app form.",
        "website": "https://imputationserver.readthedocs.io",
        "submitButton": "Submit Job",
        "s3Workspace": False,
        "footer": "",
        "params": [
            {
                "id": "files",
                "type": "local_folder",
                "description": "Input Files (VCF)",
                "required": True,
                "visible": True,
            },
            {
                "id": "refpanel",
                "type": "app_list",
                "description": "Reference Panel",
                "value": PANELS[0].key,
                "required": True,
                "visible": True,
                "values": [{"key": panel.key, "value": panel.label} for panel in panels],
            },
            _list_param("build", "Array Build", [("hg19", "GRCh37/hg19"), ("hg38", "GRCh38/hg38")]),
            {
                "id": "population",
                "type": "binded_list",
                "description": "Population",
                "bind": "refpanel",
                "required": True,
                "visible": True,
                "values": [
                    {"key": panel.key, "values": [{"key": key, "value": label} for key, label in panel.populations]}
                    for panel in panels
                ],
            },
            _list_param(
                "phasing", "Phasing", [("eagle", "Eagle v2.4"), ("beagle", "Beagle 5.4"), ("no_phasing", "No")]
            ),
            _list_param(
                "mode", "Mode", [("imputation", "Quality Control & Imputation"), ("qc_only", "Quality Control Only")]
            ),
            _list_param("r2Filter", "rsq Filter", [("0", "off"), ("0.001", "0.001"), ("0.1", "0.1"), ("0.3", "0.3")]),
            {"id": "aesEncryption", "type": "checkbox", "description": "AES 256 encryption", "visible": True},
            {"id": "meta", "type": "checkbox", "description": "Generate Meta-imputation file", "visible": True},
            {"id": "password", "type": "text", "description": "Password", "visible": False},
            {
                "id": "check1",
                "type": "terms_checkbox",
                "description": "I will not attempt to re-identify",
                "visible": True,
            },
        ],
    }


def _list_param(param_id: str, description: str, values: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": param_id,
        "type": "list",
        "description": description,
        "value": values[0][0],
        "required": True,
        "visible": True,
        "values": [{"key": key, "value": label} for key, label in values],
    }


def message(text: str, kind: int, offset_s: int = 0) -> dict[str, Any]:
    """A step log message; kind 0 OK, 1 ERROR, 2 WARNING, 3 RUNNING (§1.5)."""
    return {"message": text, "time": EPOCH_MS + offset_s * 1000, "type": kind}


def step(step_id: int, name: str, *messages: dict[str, Any]) -> dict[str, Any]:
    return {"id": step_id, "name": name, "empty": not messages, "logMessages": list(messages)}


VALIDATION_OK = step(
    1,
    "Input Validation",
    message(
        "<b>Statistics:</b><br>Alternative allele frequency > 0.5 sites: 1,203<br>Samples: 51<br>Chromosomes: 20", 0
    ),
)
QC_OK = step(
    2,
    "Quality Control",
    message("Uploaded data is hg19 and reference is hg19.", 0, 5),
    message("<b>Statistics:</b><br>Remaining sites in total: 7,824<br>Strand flips: 0<br>Allele switch: 2", 0, 9),
)
QC_REPORT = step(3, "Quality Control Report", message("Quality control report created.", 0, 12))
PHASING_OK = step(4, "Phasing with Eagle", message("Phasing finished.", 0, 60))
IMPUTATION_OK = step(5, "Imputation", message("Imputation finished.", 0, 120))
EXPORT_OK = step(6, "Compression and Encryption", message("Data have been exported successfully.", 0, 150))

QC_FAILURE = ("Quality Control", "::error:: No chunks passed the QC step. Imputation cannot be started!")
VALIDATION_FAILURE = ("Input Validation", "At least 20 samples must be uploaded.")


def steps_for(state: int, *, failure: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The steps a JobInfo shows in each state, growing as the pipeline moves on."""
    if state == 1:
        return []
    if state == 2:
        return [VALIDATION_OK, step(2, "Quality Control", message("Calculating QC Statistics...", 3, 5))]
    if state == 3:
        return [VALIDATION_OK, QC_OK, QC_REPORT, PHASING_OK, IMPUTATION_OK, step(6, "Compression and Encryption")]
    if state in (4, 8, 7):
        return [VALIDATION_OK, QC_OK, QC_REPORT, PHASING_OK, IMPUTATION_OK, EXPORT_OK]
    if state in (5, 9):
        failed_step, text = failure or QC_FAILURE
        done = [VALIDATION_OK] if failed_step != "Input Validation" else []
        return [*done, step(len(done) + 1, failed_step, message(f"<b>Error:</b> {text}", 1, 30))]
    if state == 6:
        return [VALIDATION_OK, step(2, "Quality Control", message("Calculating QC Statistics...", 3, 5))]
    if state == -1:
        return [VALIDATION_OK, step(2, "Quality Control", message("Calculating QC Statistics...", 3, 5))]
    return []


@dataclass
class ResultBlob:
    """A file under /share/results/<hash>/<name> with its download counter (-1 unlimited, §1.7)."""

    hash: str
    name: str
    content: bytes
    count: int = 10
    param: str = "output"
    redirect: bool = False  # answer 302 to a presigned-style URL, as an S3 workspace does
    drops: int = 0  # how many of the next downloads are cut off half-way (connection reset)


def output_params(blobs: list[ResultBlob]) -> list[dict[str, Any]]:
    params = []
    for param_id, label in (("output", "Downloads"), ("cloudgene_logs", "Logs")):
        files = [blob for blob in blobs if blob.param == param_id]
        params.append(
            {
                "id": param_id,
                "name": label,
                "description": label,
                "value": param_id,
                "download": True,
                "hash": f"param-{param_id}",
                "tree": [],
                "files": [
                    {
                        "name": blob.name,
                        "path": f"{param_id}/{blob.name}",
                        "hash": blob.hash,
                        "size": _human_size(len(blob.content)),
                        "count": blob.count,
                    }
                    for blob in files
                ],
            }
        )
    return params


def _human_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def job_info(
    *,
    job_id: str,
    name: str,
    state: int,
    username: str,
    position: int,
    failure: tuple[str, str] | None,
    blobs: list[ResultBlob],
) -> dict[str, Any]:
    """JobInfo with every field of §1.5; unset timestamps are -1."""
    finished = state not in (1, 2, 3)
    return {
        "id": job_id,
        "name": name,
        "application": f"Genotype Imputation (Minimac4) {APP_VERSION}",
        "applicationId": f"{APP_ID}@{APP_VERSION}",
        "state": state,
        "positionInQueue": position if state == 1 else -1,
        "submittedOn": EPOCH_MS,
        "startTime": EPOCH_MS + 1000 if state != 1 else -1,
        "endTime": EPOCH_MS + 200_000 if finished else -1,
        "deletedOn": RETIRE_MS if state in (7, 8, 9) else -1,
        "currentTime": EPOCH_MS + 210_000,
        "userAgent": "fip-connectors/1.0",
        "username": username,
        "workspaceSize": "12 MB",
        "logs": "",
        "steps": steps_for(state, failure=failure),
        "outputParams": output_params(blobs) if state in (4, 8) else [],
    }


def cloudgene_error(text: str) -> dict[str, Any]:
    return {"success": False, "message": text}


# -- GA4GH ------------------------------------------------------------------------------------------------------------

WES_PANELS = [
    {
        "id": "h3africa-v6",
        "name": "H3Africa v6 (hg38)",
        "build": "hg38",
        "populations": [{"id": "afr", "name": "African"}, "mixed"],
        "description": "African reference panel hosted on the node.",
        "samples": 4447,
        "variants": 130_000_000,
    },
    {"id": "1000g-phase-3-v5", "name": "1000G Phase 3 v5", "build": "hg19", "populations": ["afr", "eur", "all"]},
]


def service_info_full(*, base: str = "") -> dict[str, Any]:
    """A WES 1.1 node with every required Service field, the WES extras and the panel extension."""
    return {
        "id": "org.example.elwazi.wes",
        "name": "eLwazi imputation node (recorded)",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "description": "Recorded WES node for the connector tests.",
        "organization": {"name": "eLwazi", "url": "https://elwazi.example.org"},
        "contactUrl": "mailto:ops@elwazi.example.org",
        "documentationUrl": "https://elwazi.example.org/docs",
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "environment": "test",
        "version": "1.4.2",
        "workflow_type_versions": {
            "CWL": {"workflow_type_version": ["v1.0", "v1.2"]},
            "NEXTFLOW": {"workflow_type_version": ["22.10", "23.10"]},
        },
        "supported_wes_versions": ["1.0.0", "1.1.0"],
        "supported_filesystem_protocols": ["http", "https", "drs"],
        "workflow_engine_versions": {"nextflow": {"workflow_engine_version": ["23.10.1"]}},
        "default_workflow_engine_parameters": [],
        "system_state_counts": {"QUEUED": 1, "RUNNING": 2, "COMPLETE": 10},
        "auth_instructions_url": "https://elwazi.example.org/auth",
        "tags": {"workflow_url": "https://github.com/genepi/imputationserver2@v2.0.12"},
        "reference_panels": WES_PANELS,
    }


def service_info_starter_kit() -> dict[str, Any]:
    """The GA4GH starter kit: WDL/NEXTFLOW only, 1.0 engine map (strings), panels only as a JSON string tag."""
    import json

    return {
        "id": "org.ga4gh.starterkit.wes",
        "name": "GA4GH Starter Kit WES Service",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.0.1"},
        "organization": {"name": "Global Alliance for Genomics and Health", "url": "https://ga4gh.org"},
        "version": "0.3.2",
        "workflow_type_versions": {
            "WDL": {"workflow_type_version": ["1.0"]},
            "NEXTFLOW": {"workflow_type_version": ["21.04.0"]},
        },
        "supported_wes_versions": ["1.0.1"],
        "supported_filesystem_protocols": ["file", "http", "https"],
        "workflow_engine_versions": {"NATIVE": "1.0.0"},
        "system_state_counts": {},
        "tags": {"reference_panels": json.dumps([{"id": "hapmap-2", "name": "HapMap 2", "build": "hg19"}])},
    }


def wes_error(status: int, text: str) -> dict[str, Any]:
    return {"msg": text, "status_code": status}


def task_log(
    index: int, *, name: str, exit_code: int | None, stderr: str = "", system_logs: list[str] | None = None
) -> dict[str, Any]:
    return {
        "id": f"task-{index:03d}",
        "name": name,
        "cmd": ["nextflow", "run", name.lower()],
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:05:00Z" if exit_code is not None else None,
        "stdout": "",
        "stderr": stderr,
        "exit_code": exit_code,
        "system_logs": system_logs or [],
        "tes_uri": None,
    }


@dataclass
class DrsBlob:
    """A DRS object: served via an https access_url, or via an access_id that needs one more call."""

    object_id: str
    name: str
    content: bytes
    via_access_id: bool = False
    pending: int = 0  # 202 answers before the object is ready
    access_pending: int = 0  # 202 answers of the access call
    retry_after: int = 7
    headers: dict[str, str] = field(default_factory=dict)
