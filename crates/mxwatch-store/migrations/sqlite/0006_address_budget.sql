-- Nothing for SQLite. The shared SMTP politeness budget (migrations/postgres/0006_address_budget.sql)
-- is how several `mxwatch worker`s, on several machines, share one per-MX-address limit, and
-- workers need PostgreSQL (the work queue, 0003, is PostgreSQL's only too). One process on a
-- SQLite file has its own in-memory budget (mxwatch-probe's LocalBudget), which is already the
-- whole budget. This file keeps the two backends' migrations under the same names.
SELECT 1;
