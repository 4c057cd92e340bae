// Validates PrometheusRule and PodMonitor manifests (YAML, one or more documents per file) against
// the prometheus-operator's monitoring.coreos.com/v1 schemas. Prints one line per document; exit 1
// if any fails, or if a file holds a kind this check does not know (it would pass unchecked).
// Usage: node validate.mjs FILE...
import fs from "node:fs";
import yaml from "js-yaml";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";

const kinds = { PrometheusRule, PodMonitor };
let failed = false;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!doc) continue;
    const Model = kinds[doc.kind];
    if (!Model || doc.apiVersion !== "monitoring.coreos.com/v1") {
      failed = true;
      console.log(`UNKNOWN ${file} ${doc.apiVersion}/${doc.kind} ${doc.metadata?.name}`);
      continue;
    }
    try {
      new Model(doc).validate();
      console.log(`VALID ${file} ${doc.kind} ${doc.metadata?.name}`);
    } catch (e) {
      failed = true;
      console.log(`INVALID ${file} ${doc.kind} ${doc.metadata?.name}: ${e.message}`);
    }
  }
}
process.exit(failed ? 1 : 0);
