// Lab mode: a whole vISP on this one machine (see lab.ts).
export { checkLabName, crashAgent, crashFile, defaultEntry, restartAgents, labDown, labOperatorTls, labStatus, labUp, notReady, readTopology, readTopologyPlaced, soleLabController } from './lab.js';
export type { LabDownReport, LabStatusReport, LabUpOptions, LabUpResult } from './lab.js';
export { labDir, listLabs, readState, tryReadState, type LabState } from './state.js';
export { enumWord, toApiTopology } from './to-api.js';
export { errorText, isRpcError, rpcCode, withTimeout } from './rpc.js';
