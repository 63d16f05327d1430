// Reads Parquet files with DuckDB's read_parquet and prints, as JSON, the
// row count, the column types DuckDB sees, and the rows ordered by
// (_kafka_partition, _kafka_offset). Usage: node read.js 'glob' ...
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const files = process.argv.slice(2);
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const list = '[' + files.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ') + ']';
  const rel = `read_parquet(${list}, union_by_name = true)`;
  const types = await conn.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${rel})`);
  const rows = await conn.runAndReadAll(`SELECT * FROM ${rel} ORDER BY _kafka_partition, _kafka_offset`);
  const out = {
    types: Object.fromEntries(types.getRowObjectsJson().map((r) => [r.column_name, r.column_type])),
    rows: rows.getRowObjectsJson(),
  };
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
