// iperf3 across a link: the benchmark's own measurement (bench/lib/iperf.ts), so tests and bench report alike.
export { hasBbr, measure, type Throughput } from '../../bench/lib/iperf.js';
