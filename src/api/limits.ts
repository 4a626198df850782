// The limits live with the controller that enforces them; re-exported for the API edge and config.
export { DEFAULT_LIMITS, LIMIT_NAMES, type Limits } from '../controller/limits.js';
