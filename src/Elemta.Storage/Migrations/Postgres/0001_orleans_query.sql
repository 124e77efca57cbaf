-- Orleans' ADO.NET providers (clustering, grain storage, reminders) read their SQL from this table at start-up, by
-- query key. The keys and the parameters each query receives are the contract with the Orleans packages; the SQL is
-- Elemta's. Unquoted names fold to lower case in PostgreSQL; Npgsql matches Orleans' column names case-insensitively.
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) NOT NULL PRIMARY KEY,
    QueryText text        NOT NULL
);
