"""Scale-out on Citus: lay a Holdfast database out as reference and tenant-distributed tables
(``holdfast citus distribute``), and let migrations distribute the tables they add."""
