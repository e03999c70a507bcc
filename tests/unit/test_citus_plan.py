"""Planning `holdfast citus distribute`: what to convert, what is in place, what conflicts."""

from app.citus.plan import Placement, plan_distribution

REFERENCE = ("tenants", "api_keys")
TENANT = ("customers", "events", "webhook_deliveries")


def test_a_fresh_database_gets_everything_in_order() -> None:
    plan = plan_distribution(REFERENCE, TENANT, "tenant_id", {})
    assert plan.make_reference == REFERENCE
    assert plan.distribute == TENANT
    assert plan.colocate_with is None
    assert plan.changes
    assert plan.conflicts == ()


def test_a_distributed_database_needs_nothing() -> None:
    current = {
        "tenants": Placement("reference"),
        "api_keys": Placement("reference"),
        **{name: Placement("distributed", "tenant_id", 7) for name in TENANT},
    }
    plan = plan_distribution(REFERENCE, TENANT, "tenant_id", current)
    assert not plan.changes
    assert plan.already_reference == REFERENCE
    assert plan.already_distributed == TENANT
    assert plan.conflicts == ()


def test_a_new_table_joins_the_existing_group_and_citus_local_tables_are_converted() -> None:
    current = {
        "tenants": Placement("reference"),
        "api_keys": Placement("citus_local"),
        "customers": Placement("distributed", "tenant_id", 7),
        "events": Placement("citus_local"),
    }
    plan = plan_distribution(REFERENCE, TENANT, "tenant_id", current)
    assert plan.make_reference == ("api_keys",)
    assert plan.distribute == ("events", "webhook_deliveries")
    assert plan.colocate_with == "customers"


def test_tables_laid_out_otherwise_are_conflicts_not_changes() -> None:
    current = {
        "tenants": Placement("distributed", "id", 1),
        "customers": Placement("distributed", "customer_id", 2),
        "events": Placement("reference"),
    }
    plan = plan_distribution(REFERENCE, TENANT, "tenant_id", current)
    assert len(plan.conflicts) == 3
    assert any("customers is distributed by customer_id" in c for c in plan.conflicts)


def test_several_colocation_groups_are_a_conflict() -> None:
    current = {
        "customers": Placement("distributed", "tenant_id", 7),
        "events": Placement("distributed", "tenant_id", 8),
    }
    [conflict] = plan_distribution(REFERENCE, TENANT, "tenant_id", current).conflicts
    assert "several colocation groups" in conflict
