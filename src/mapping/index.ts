export * from './database.js';
export * from './mapping.js';
