"""The SQL guard catches each shape Citus refuses, and passes the shapes we write instead."""

import pytest

from tests.sql_guard import NON_IMMUTABLE, problems

TENANT_OWNED = {"customers", "webhook_deliveries", "webhook_endpoints", "health_settings"}


def check(sql: str) -> list[str]:
    return problems(sql, NON_IMMUTABLE, TENANT_OWNED)


@pytest.mark.parametrize(
    "sql",
    [
        # The customers lock before the fix.
        """INSERT INTO customers (tenant_id, customer_id, first_seen_at, last_seen_at)
        SELECT $1, customer_id, first_seen_at, last_seen_at FROM unnest($2::text[]) AS u
        ORDER BY customer_id
        ON CONFLICT (tenant_id, customer_id) DO UPDATE SET updated_at = now()
        RETURNING *""",
        # As SQLAlchemy renders func.now() in set_.
        "INSERT INTO plans (tenant_id, plan_id, name) VALUES ($1::UUID, $2::VARCHAR, $3) "
        "ON CONFLICT (tenant_id, plan_id) DO UPDATE SET name = excluded.name, "
        "updated_at = now() RETURNING plans.tenant_id",
        "INSERT INTO t (tenant_id, a) VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE "
        "SET a = CASE WHEN t.a > 1 THEN clock_timestamp() ELSE t.a END WHERE t.a IS NULL",
        "INSERT INTO t (tenant_id, a) VALUES ($1, $2) ON CONFLICT (tenant_id) DO UPDATE "
        "SET a = CURRENT_TIMESTAMP",
    ],
)
def test_volatile_upsert_set_is_flagged(sql: str) -> None:
    [problem] = check(sql)
    assert "ON CONFLICT DO UPDATE SET" in problem


def test_immutable_upsert_set_passes() -> None:
    assert (
        check(
            "INSERT INTO customers (tenant_id, customer_id) SELECT $1, c FROM unnest($2) AS u(c) "
            "ON CONFLICT (tenant_id, customer_id) DO UPDATE SET updated_at = EXCLUDED.updated_at,"
            " traits = CASE WHEN octet_length((customers.traits || EXCLUDED.traits)::text) <= 65536"
            " THEN customers.traits || EXCLUDED.traits ELSE EXCLUDED.traits END RETURNING *"
        )
        == []
    )
    # now() before ON CONFLICT (a value being inserted) is evaluated once: fine.
    assert check("INSERT INTO t (tenant_id, at) VALUES ($1, now()) ON CONFLICT DO NOTHING") == []
    # A function name inside a string literal is not a call.
    assert check("INSERT INTO t VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = 'now()'") == []


def test_a_function_the_database_knows_as_volatile_is_flagged() -> None:
    sql = "INSERT INTO t VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = my_stable_fn(1)"
    assert check(sql) == []
    assert problems(sql, {"my_stable_fn"}, TENANT_OWNED) != []


def test_non_immutable_inside_coalesce_of_an_update_is_flagged() -> None:
    [problem] = check(
        "UPDATE api_keys SET revoked_at=coalesce(api_keys.revoked_at, now()) "
        "WHERE api_keys.tenant_id = $1::UUID AND api_keys.id = $2::UUID RETURNING api_keys.id"
    )
    assert "COALESCE/CASE" in problem
    assert (
        check(
            "UPDATE api_keys SET revoked_at=coalesce(api_keys.revoked_at, $1::TIMESTAMP WITH TIME "
            "ZONE) WHERE api_keys.tenant_id = $2::UUID AND api_keys.id = $3::UUID"
        )
        == []
    )
    # A plain now() in an UPDATE's SET is evaluated once by Citus: allowed.
    assert (
        check(
            "UPDATE customers AS c SET a = u.a, updated_at = now() FROM unnest($2) AS u(a) "
            "WHERE c.tenant_id = $1"
        )
        == []
    )


def test_locking_across_tenants_is_flagged() -> None:
    claim_across_tenants = (
        "WITH due AS (SELECT webhook_deliveries.tenant_id, webhook_deliveries.id FROM "
        "webhook_deliveries JOIN webhook_endpoints ON webhook_endpoints.tenant_id = "
        "webhook_deliveries.tenant_id WHERE webhook_deliveries.status = $1::VARCHAR "
        "ORDER BY webhook_deliveries.next_attempt_at LIMIT $2::INTEGER "
        "FOR UPDATE OF webhook_deliveries SKIP LOCKED) UPDATE webhook_deliveries SET "
        "attempts=(webhook_deliveries.attempts + $3::INTEGER) FROM due, webhook_endpoints "
        "WHERE webhook_deliveries.tenant_id = due.tenant_id AND webhook_deliveries.id = due.id"
    )
    found = check(claim_across_tenants)
    assert any("FOR UPDATE/SHARE" in p for p in found)
    assert any("UPDATE/DELETE of webhook_deliveries" in p for p in found)
    per_tenant = claim_across_tenants.replace(
        "WHERE webhook_deliveries.status",
        "WHERE webhook_deliveries.tenant_id = $9::UUID AND webhook_deliveries.status",
    )
    assert check(per_tenant) == []
    assert check("SELECT * FROM customers WHERE tenant_id = ANY($1) FOR UPDATE") != []
    assert check("SELECT * FROM customers WHERE $1::UUID = customers.tenant_id FOR SHARE") == []


def test_modifications_need_one_tenant_but_reference_tables_do_not() -> None:
    assert check("DELETE FROM customers WHERE customer_id = $1") != []
    assert check("DELETE FROM customers WHERE tenant_id = $1 AND customer_id = $2") == []
    assert check("DELETE FROM tenants WHERE id = ANY($1)") == []
    assert check("UPDATE webhook_endpoints SET url = $1 WHERE id = $2") != []


def test_subquery_inside_insert_values_is_flagged() -> None:
    [problem] = check(
        "INSERT INTO health_settings (tenant_id, version, settings) VALUES ($1::UUID, "
        "(SELECT coalesce(max(health_settings.version), $2::INTEGER) + $3::INTEGER FROM "
        "health_settings WHERE health_settings.tenant_id = $4::UUID), $5::JSONB)"
    )
    assert "INSERT ... VALUES" in problem
    assert check("INSERT INTO t (tenant_id, v) VALUES ($1, $2)") == []
    assert check("INSERT INTO t (tenant_id, v) SELECT $1, max(v) FROM t WHERE tenant_id = $1") == []


def test_a_parameter_in_the_upsert_set_of_an_insert_select_is_flagged() -> None:
    merge = (
        "INSERT INTO customers (tenant_id, customer_id, traits) SELECT $1, c, t "
        "FROM unnest($2::text[], $3::jsonb[]) AS u(c, t) ON CONFLICT (tenant_id, customer_id) "
        "DO UPDATE SET traits = CASE WHEN octet_length(EXCLUDED.traits::text) <= $4 "
        "THEN EXCLUDED.traits ELSE customers.traits END"
    )
    [problem] = check(merge)
    assert "INSERT ... SELECT" in problem
    assert check(merge.replace("$4", "65536")) == []
    # Parameters in the SET of a single-row INSERT ... VALUES are fine.
    assert (
        check(
            "INSERT INTO plans (tenant_id, plan_id, name) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id, plan_id) DO UPDATE SET name = $4"
        )
        == []
    )
