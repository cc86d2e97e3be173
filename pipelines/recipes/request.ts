// The generate request moved to pipelines/jobs/api-generate.ts (the jobs API); the recipes keep
// importing it from here until their owners switch.
export * from '../jobs/api-generate.ts';
