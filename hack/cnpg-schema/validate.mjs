// Validates CloudNativePG Cluster manifests (YAML, one or more documents per file) against the
// schema generated from CloudNativePG's own CRD. Prints one line per document; exit 1 if any fails.
// Usage: node validate.mjs FILE...
import fs from "node:fs";
import yaml from "js-yaml";
import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Cluster";

let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!doc || doc.kind !== "Cluster") continue;
    try {
      new Cluster(doc).validate();
      console.log(`VALID ${file} ${doc.metadata?.name}`);
    } catch (e) {
      failed = true;
      console.log(`INVALID ${file} ${doc.metadata?.name}: ${e.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
