// PostGraphile 5 over incidentdesk's tables, as the reference the read path is measured against.
// It connects as the owner (row-level security does not apply) and a `condition` picks the tenant.
// Production settings: no GraphiQL, no watch mode, no explain output.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const connectionString = process.env.BENCH_PG_URL;
if (!connectionString) {
  throw new Error("BENCH_PG_URL (an owner URL of the benchmark database) is required");
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      // The same number of connections as incidentdesk's pool (INCIDENTDESK_DB_POOL_SIZE).
      poolConfig: { max: Number(process.env.BENCH_PG_POOL_SIZE ?? 10) },
    }),
  ],
  grafserv: {
    port: Number(process.env.PORT ?? 5678),
    host: "127.0.0.1",
    graphqlPath: "/graphql",
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};

export default preset;
