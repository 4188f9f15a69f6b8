"""Every path and connection is a setting; this is the one module that reads the environment.

Defaults give the embedded single-machine setup under ``HOCBA_HOME`` (./.hocba).
For a city-scale deployment point ``HOCBA_STORAGE_URL`` at an object store
(any fsspec URL, e.g. ``s3://bucket/hocba``) and ``HOCBA_DATABASE_URL`` at
PostgreSQL (a SQLAlchemy URL).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOCBA_", extra="ignore")

    home: Path = Field(default=Path(".hocba"), description="Local working folder (embedded default)")
    storage_url: str | None = Field(
        default=None, description="fsspec URL of the storage root; default: HOCBA_HOME/storage"
    )
    inbox_url: str | None = Field(
        default=None, description="fsspec URL of the inbox; default: HOCBA_HOME/inbox"
    )
    roster_url: str | None = Field(
        default=None,
        description="fsspec URL of the roster: a sector-database CSV export or a folder of them; "
        "default: HOCBA_HOME/roster",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite at HOCBA_HOME/hocba.db"
    )
    workers: int = Field(default=0, description="Worker processes for per-page work; 0 = one per CPU this "
                         "process may use (affinity and cgroup CPU quota)")
    recognizer_timeout_s: float = Field(
        default=5.0, ge=0, description="Time budget of a recognizer per cell it reads; past it the cells "
        "get an empty reading checked recognizer_timeout (0 = no budget)")
    review_claim_ttl_s: int = Field(
        default=900, description="A reviewer's claim on an item expires after this many seconds"
    )
    review_second_identity: bool = Field(
        default=False,
        description="Identity fields (name, birth date, identifier) need two agreeing independent entries",
    )
    session_secret: str | None = Field(
        default=None,
        description="Key signing the console's session cookies; default: a random key kept in "
        "HOCBA_HOME/console.key",
    )
    console_session_lifetime_s: int = Field(
        default=8 * 3600, gt=0,
        description="A console login ends this many seconds after it began, however busy (absolute lifetime)",
    )
    console_session_idle_s: int = Field(
        default=30 * 60, gt=0, description="A console login ends after this many seconds without a request",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses or networks (or *) of proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto the console believes (uvicorn's --forwarded-allow-ips); others' are ignored",
    )
    console_host: str = Field(default="127.0.0.1", description="Address the review console listens on")
    console_port: int = Field(default=8000, description="Port of the review console")
    issued_url: str | None = Field(
        default=None,
        description="fsspec URL of the root whose issued/ folder holds signed records (e.g. the storage "
        "root); default: HOCBA_HOME, so files land in HOCBA_HOME/issued/",
    )
    pki_dir: Path | None = Field(
        default=None, description="Development PKI made by `hocba pki init`; default: HOCBA_HOME/pki"
    )
    pki_passphrase: str = Field(
        default="hocba-dev",
        description="Passphrase of the development PKCS#12 files (never sign real records with them)",
    )
    keys_dir: Path | None = Field(
        default=None, description="Signing keys as PKCS#12 files, one folder per school code: "
        "KEYS_DIR/<school_code>/school.p12 (seal) and principal.p12; default: PKI_DIR")
    pkcs11_module: str | None = Field(
        default=None, description="PKCS#11 module (.so) of a token; when set, keys come from the token"
    )
    pkcs11_token_label: str | None = Field(
        default=None, description="Token label (PKCS#11); may contain {school_code} (a token per school)")
    pkcs11_pin: str | None = Field(default=None, description="User PIN of the token (PKCS#11)")
    pkcs11_school_key_label: str = Field(
        default="school-{school_code}",
        description="Label of a school's seal key (and certificate) on the token; {school_code}: the school")
    pkcs11_principal_key_label: str = Field(
        default="principal-{school_code}",
        description="Label of a school's principal's key (and certificate) on the token")
    tsa_url: str | None = Field(default=None, description="RFC 3161 timestamp authority URL (optional)")
    trust_roots: str | None = Field(
        default=None, description="Comma-separated PEM files `hocba verify` trusts; default: PKI_DIR/ca.pem"
    )
    tessdata: Path | None = Field(
        default=None,
        description="Tesseract tessdata folder (eng, vie, osd); default: the system one",
    )

    @property
    def home_abs(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def storage_root(self) -> str:
        return self.storage_url or str(self.home_abs / "storage")

    @property
    def inbox_root(self) -> str:
        return self.inbox_url or str(self.home_abs / "inbox")

    @property
    def roster_root(self) -> str:
        return self.roster_url or str(self.home_abs / "roster")

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home_abs / 'hocba.db'}"

    @property
    def issued_root(self) -> str:
        return self.issued_url or str(self.home_abs)

    @property
    def pki_root(self) -> Path:
        return (self.pki_dir or self.home_abs / "pki").expanduser().resolve()

    @property
    def keys_root(self) -> Path:
        return (self.keys_dir or self.pki_root).expanduser().resolve()

    @property
    def trust_root_paths(self) -> list[Path]:
        if self.trust_roots:
            return [Path(p.strip()) for p in self.trust_roots.split(",") if p.strip()]
        return [self.pki_root / "ca.pem"]

    @property
    def dagster_home(self) -> Path:
        return self.home_abs / "dagster"


@cache
def get_settings() -> Settings:
    return Settings()
