"""PostgreSQL side of onboarding (playbook §3.6 without psql or a heredoc).

The application gets its own login role and database, both named after the namespace,
created only when absent; every identifier and the password's SCRAM verifier go through
`psycopg.sql` (client-side quoting, so an odd name can never break out of the statement). The database
is closed to PUBLIC and granted to its role. The admin DSN and the role's password come
from the environment or Vault, never argv.
"""

import os

import psycopg
from psycopg import conninfo, sql

from tasks.onboard.errors import DatabaseError, InvalidInput, SecretMissing

ADMIN_DSN_ENV = "SOMA_PG_ADMIN_DSN"
PASSWORD_ENV = "SOMA_DB_PASSWORD"
DB_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")


def admin_dsn(environ: dict | None = None) -> tuple[str, str]:
    """The admin DSN and its password (for the redactor), checked before any connection:
    libpq's own parse errors and a mis-split host quote the string, password included."""
    environ = os.environ if environ is None else environ
    dsn = environ.get(ADMIN_DSN_ENV, "")
    if not dsn:
        raise SecretMissing(f"no admin connection: set {ADMIN_DSN_ENV} in the environment")
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise InvalidInput(f"{ADMIN_DSN_ENV} is not a valid PostgreSQL connection string "
                           "(check its quoting and percent-encoding)") from None
    if "@" in str(params.get("host") or ""):
        raise InvalidInput(f"{ADMIN_DSN_ENV}: the host part holds '@'; percent-encode an '@' "
                           "in the user or password as %40")
    return dsn, str(params.get("password") or "")


def choose_password(from_vault: str | None, environ: dict | None = None) -> str:
    """Vault's `postgres_password` is the source of truth (the runtime Secret is built from
    it); the environment is the fallback. Two different values are refused."""
    environ = os.environ if environ is None else environ
    from_env = environ.get(PASSWORD_ENV) or None
    if from_vault and from_env and from_vault != from_env:
        raise SecretMissing(f"{PASSWORD_ENV} differs from postgres_password in Vault; "
                            "unset one of them")
    password = from_vault or from_env
    if not password:
        raise SecretMissing(f"no database password: seed postgres_password in Vault "
                            f"(inv vault.apply) or set {PASSWORD_ENV}")
    return password


def connect(dsn: str) -> psycopg.Connection:
    try:
        # CREATE DATABASE cannot run inside a transaction block.
        return psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL as admin: {exc}") from None


def _scalar(conn: psycopg.Connection, query, params=()):
    try:
        row = conn.execute(query, params).fetchone()
    except psycopg.Error as exc:
        raise DatabaseError(f"query failed: {exc}") from None
    return row[0] if row else None


def _exec(conn: psycopg.Connection, stmt: sql.Composed, what: str) -> None:
    try:
        conn.execute(stmt)
    except psycopg.Error as exc:
        # The statement may hold the password, so only the action and the server's
        # message are reported.
        raise DatabaseError(f"{what} failed: {exc.diag.message_primary or exc}") from None


def role_exists(conn: psycopg.Connection, role: str) -> bool:
    return bool(_scalar(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)))


def database_exists(conn: psycopg.Connection, db: str) -> bool:
    return bool(_scalar(conn, "SELECT 1 FROM pg_database WHERE datname = %s", (db,)))


def create_role(conn: psycopg.Connection, role: str, password: str) -> None:
    # libpq hashes the password into a SCRAM verifier here (as psql's \password does), so
    # the statement the server runs, and may log, never holds the password itself.
    try:
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                                b"scram-sha-256").decode()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot hash the password of {role}: {exc}") from None
    _exec(conn, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(verifier)), f"CREATE ROLE {role}")


def create_database(conn: psycopg.Connection, db: str, owner: str) -> None:
    _exec(conn, sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(db), sql.Identifier(owner)), f"CREATE DATABASE {db}")


def grants_missing(conn: psycopg.Connection, db: str, role: str) -> list[str]:
    """What the grant step would fix: privileges the role lacks, and PUBLIC access."""
    missing = []
    if not database_exists(conn, db):
        return [f"{p} for {role}" for p in DB_PRIVILEGES] + ["REVOKE from PUBLIC"]
    if role_exists(conn, role):
        for priv in DB_PRIVILEGES:
            if not _scalar(conn, "SELECT has_database_privilege(%s, %s, %s)", (role, db, priv)):
                missing.append(f"{priv} for {role}")
    else:
        missing += [f"{p} for {role}" for p in DB_PRIVILEGES]
    # A NULL datacl means the built-in default, which lets PUBLIC connect.
    public = _scalar(conn, """
        SELECT count(*) FROM pg_database d,
               aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
        WHERE d.datname = %s AND a.grantee = 0""", (db,))
    if public:
        missing.append("REVOKE from PUBLIC")
    return missing


def apply_grants(conn: psycopg.Connection, db: str, role: str) -> None:
    _exec(conn, sql.SQL("GRANT ALL PRIVILEGES ON DATABASE {} TO {}").format(
        sql.Identifier(db), sql.Identifier(role)), f"GRANT on {db}")
    _exec(conn, sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
        sql.Identifier(db)), f"REVOKE PUBLIC on {db}")
