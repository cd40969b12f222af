-- The synchronized table of one bag, computed by DuckDB with ASOF JOIN over
-- the same topic Parquet bagpipe wrote: the comparison for the sync stage
-- in bench/extract.sh. `bench/sync_duckdb.py` fills in the placeholders:
-- the union of the tables' log times, the interval (ns), the output file,
-- and one column and one ASOF JOIN per synchronized table.
--
-- Ticks: every multiple of the interval from the first to the last message
-- of the synchronized topics; per topic, the last message at or before the
-- tick (a struct of the whole row, null before the topic's first message).
CREATE TEMP TABLE bounds AS
SELECT min(log_time_ns) AS t_min, max(log_time_ns) AS t_max FROM ({union_all});

CREATE TEMP TABLE ticks AS
SELECT range AS time_ns
FROM range(
    (SELECT ((t_min + {interval} - 1) // {interval}) * {interval} FROM bounds),
    (SELECT t_max + 1 FROM bounds),
    {interval});

COPY (
    SELECT ticks.time_ns, {columns}
    FROM ticks
    {joins}
    ORDER BY ticks.time_ns
) TO '{out}' (FORMAT parquet, COMPRESSION zstd);
