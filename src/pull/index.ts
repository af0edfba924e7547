export { buildPullServer, type PullOptions, type PullServerDeps } from './server.js';
export { createPullPool } from './pool.js';
export { planProfile, profileFromRow, type Profile, type ProfilePlan } from './profile-mapping.js';
