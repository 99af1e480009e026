#!/bin/bash
# Runs once, on first start with an empty data directory (official postgres
# image, /docker-entrypoint-initdb.d). Creates the application role and one
# database per bounded context, owned by that role.
#
# Environment (set in docker-compose.yml):
#   POSTGRES_USER       superuser the entrypoint created (default: postgres)
#   FIP_DB_USER         application role to create (required)
#   FIP_DB_PASSWORD     its password (required)
#   FIP_DATABASES       optional override, space or comma separated
set -euo pipefail

: "${FIP_DB_USER:?FIP_DB_USER must be set}"
: "${FIP_DB_PASSWORD:?FIP_DB_PASSWORD must be set}"
databases="${FIP_DATABASES:-fip_users fip_registry fip_jobs fip_files fip_notifications fip_monitoring fip_legacy}"
databases="${databases//,/ }"

run_psql() {
    psql --no-psqlrc --set ON_ERROR_STOP=1 --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname postgres "$@"
}

# Values travel as psql variables and are quoted by format(%I/%L),
# so unusual characters in names or the password cannot break the SQL.
echo "init-databases: ensuring role ${FIP_DB_USER}"
run_psql --set app_user="${FIP_DB_USER}" --set app_password="${FIP_DB_PASSWORD}" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'app_user', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user')
\gexec
SQL

for db in ${databases}; do
    echo "init-databases: ensuring database ${db}"
    run_psql --set db="${db}" --set app_user="${FIP_DB_USER}" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'app_user', 'UTF8')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'db', :'app_user') \gexec
SQL
done

echo "init-databases: done (${databases})"
