export { buildPullServer, type PullServerDeps } from './server.js';
export { planProfile, profileFromRow, type Profile, type ProfilePlan } from './profile-mapping.js';
