'use strict';
// The portal's Plotly: the core (which carries scatter) plus the only other trace types the portal draws.
var Plotly = require('plotly.js/lib/core');
Plotly.register([require('plotly.js/lib/bar'), require('plotly.js/lib/heatmap')]);
module.exports = Plotly;
