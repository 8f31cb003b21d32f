/** A WebGPU adapter as Deno returns it: `info` fields are prototype getters. */
export function fakeAdapter(description: string, isFallbackAdapter: boolean) {
  class AdapterInfo {
    get vendor() {
      return "65541";
    }
    get architecture() {
      return "";
    }
    get device() {
      return "0";
    }
    get description() {
      return description;
    }
    get isFallbackAdapter() {
      return isFallbackAdapter;
    }
  }
  return { info: new AdapterInfo() };
}
