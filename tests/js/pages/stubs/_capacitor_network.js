// Stands in for @capacitor/network (a Capacitor plugin, not available in a browser) when the README's
// Capacitor example runs in a test page: the same two calls, answered from navigator.onLine.
export const Network = {
  async getStatus() {
    return { connected: navigator.onLine, connectionType: navigator.onLine ? "wifi" : "none" };
  },
  async addListener(event, callback) {
    const fire = () => callback({ connected: navigator.onLine, connectionType: navigator.onLine ? "wifi" : "none" });
    if (event === "networkStatusChange") {
      addEventListener("online", fire);
      addEventListener("offline", fire);
    }
    return { remove: async () => { removeEventListener("online", fire); removeEventListener("offline", fire); } };
  },
};
