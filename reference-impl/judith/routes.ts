// Judith (spec §18.1, §12): the profile's Control API routes — workflows and runs under /control/v1/judith/.
import { SmcpError } from "../../protocol/errors.ts";
import type { JudithStartRun, JudithWorkflow } from "../../protocol/types.ts";
import type { Route } from "../http/server.ts";
import type { Judith } from "./judith.ts";

const RUN = { run_id: "JudithRunId" };

export function judithRoutes(judith: () => Judith | undefined): Route[] {
  const j = (): Judith => {
    const found = judith();
    if (!found) throw new SmcpError("SMCP_NOT_FOUND", "the Judith profile is not enabled on this instance");
    return found;
  };
  return [
    {
      method: "POST", path: "/control/v1/judith/workflows", kind: "control", body: "JudithWorkflow", response: "JudithWorkflow",
      handler: (ctx) => {
        // A repeat of the identical definition answers as the first did (JDT-02).
        return { status: 201, body: j().define(ctx.body as JudithWorkflow).workflow };
      },
    },
    {
      method: "GET", path: "/control/v1/judith/workflows", kind: "control", response: "JudithWorkflowList",
      handler: () => ({ status: 200, body: { workflows: j().workflows() } }),
    },
    {
      method: "POST", path: "/control/v1/judith/runs", kind: "control", body: "JudithStartRun", response: "JudithRun",
      handler: (ctx) => {
        // A repeat naming the same run_id, workflow and input answers the same run (JDT-13).
        return { status: 201, body: j().startRun(ctx.body as JudithStartRun).run };
      },
    },
    {
      method: "GET", path: "/control/v1/judith/runs", kind: "control", response: "JudithRunList", query: { limit: { min: 1, max: 1000 } },
      handler: async (ctx) => ({ status: 200, body: { runs: await j().runs(ctx.query.limit ?? 100) } }),
    },
    {
      method: "GET", path: "/control/v1/judith/runs/{run_id}", kind: "control", params: RUN, response: "JudithRun",
      handler: async (ctx) => ({ status: 200, body: await j().run(ctx.params.run_id!) }),
    },
    {
      method: "POST", path: "/control/v1/judith/runs/{run_id}/cancel", kind: "control", params: RUN, response: "JudithRun",
      handler: async (ctx) => ({ status: 200, body: await j().cancel(ctx.params.run_id!) }),
    },
  ];
}
