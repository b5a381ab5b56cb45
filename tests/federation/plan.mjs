export const PLAN_CHECKS = [];
