-- Orleans' ADO.NET providers read their SQL from this table at start-up, by query key.
-- The keys and the parameters each query receives are the contract with Microsoft.Orleans.Persistence.AdoNet.
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  TEXT NOT NULL PRIMARY KEY,
    QueryText TEXT NOT NULL
);
