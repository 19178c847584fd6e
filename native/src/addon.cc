// The thin N-API layer: argument type checks, option extraction, and marshalling. Option *validation* (ranges,
// parsing of source strings) is done in TypeScript (agent/src/tap/); errors are raised through the error
// factory that TypeScript hands over at load, so this file defines no error types of its own.
#include <napi.h>

#include <memory>
#include <set>

#include "../include/flow-record.h"
#include "tap.h"

namespace {

class TapWrap;

// Per-environment state (main thread and each worker thread get their own).
class TapAddon : public Napi::Addon<TapAddon> {
 public:
  TapAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod("setErrorFactory", &TapAddon::SetErrorFactory),
        InstanceValue("layoutVersion", Napi::Number::New(env, SF_RECORD_LAYOUT_VERSION), napi_enumerable),
        InstanceValue("recordSize", Napi::Number::New(env, SF_RECORD_SIZE), napi_enumerable),
        InstanceValue("batchHeaderSize", Napi::Number::New(env, sizeof(sf_batch_header)), napi_enumerable),
        InstanceValue("batchMagic", Napi::Number::New(env, SF_BATCH_MAGIC), napi_enumerable),
    });
    exports.Set("Tap", InitTap(env));
    // Close every tap (join its worker) before the environment goes away, e.g. process.exit() mid-capture.
    env.AddCleanupHook([this] { CloseAll(); });
  }

  /** Throws `factory(code, message)` as a JavaScript exception. */
  void Throw(Napi::Env env, const std::string& code, const std::string& message) {
    if (!error_factory_.IsEmpty()) {
      Napi::Value err = error_factory_.Call({Napi::String::New(env, code), Napi::String::New(env, message)});
      if (env.IsExceptionPending()) return;
      Napi::Error(env, err).ThrowAsJavaScriptException();
      return;
    }
    Napi::Error e = Napi::Error::New(env, message);
    e.Set("code", Napi::String::New(env, code));
    e.ThrowAsJavaScriptException();
  }

  Napi::Value MakeError(Napi::Env env, const sf::TapError& error) {
    if (!error_factory_.IsEmpty())
      return error_factory_.Call({Napi::String::New(env, error.code), Napi::String::New(env, error.message)});
    Napi::Error e = Napi::Error::New(env, error.message);
    e.Set("code", Napi::String::New(env, error.code));
    return e.Value();
  }

  std::set<TapWrap*> open;

 private:
  Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(info.Env(), "setErrorFactory(factory: (code, message) => Error)").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    error_factory_ = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  }

  Napi::Function InitTap(Napi::Env env);
  void CloseAll();

  Napi::FunctionReference error_factory_;
  Napi::FunctionReference tap_constructor_;
};

double NumberOption(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

std::string StringOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

std::vector<std::string> StringArrayOption(const Napi::Object& o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

class TapWrap : public Napi::ObjectWrap<TapWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tap", {
        InstanceMethod("start", &TapWrap::Start),
        InstanceMethod("read", &TapWrap::Read),
        InstanceMethod("status", &TapWrap::Status),
        InstanceMethod("stats", &TapWrap::Stats),
        InstanceMethod("interfaces", &TapWrap::Interfaces),
        InstanceMethod("close", &TapWrap::Close),
    });
  }

  // new Tap(kind, options): opens synchronously (errors thrown here), does not start capturing.
  TapWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TapWrap>(info) {
    Napi::Env env = info.Env();
    addon_ = env.GetInstanceData<TapAddon>();
    if (!info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "new Tap(kind: string, options: object)").ThrowAsJavaScriptException();
      return;
    }
    const std::string kind = info[0].As<Napi::String>().Utf8Value();
    const Napi::Object o = info[1].As<Napi::Object>();
    sf::CommonOptions common;
    common.table.idle_timeout_ns = static_cast<uint64_t>(NumberOption(o, "idleTimeoutMs", 60000) * 1e6);
    common.table.active_timeout_ns = static_cast<uint64_t>(NumberOption(o, "activeTimeoutMs", 15000) * 1e6);
    common.table.close_linger_ns = static_cast<uint64_t>(NumberOption(o, "closeLingerMs", 2000) * 1e6);
    common.table.max_flows = static_cast<uint32_t>(NumberOption(o, "maxFlows", 262144));
    common.table.emit_start = o.Get("emitStart").ToBoolean().Value() || o.Get("emitStart").IsUndefined();
    common.batch_records = static_cast<size_t>(NumberOption(o, "batchRecords", 1024));
    common.max_batches = static_cast<size_t>(NumberOption(o, "maxBatches", 64));
    sf::TapError error;
    if (kind == "pcap-file") {
      tap_ = sf::OpenPcapFile(StringOption(o, "path"), NumberOption(o, "speed", 0), common, &error);
    } else if (kind == "pcap") {
      sf::LiveOptions live;
      Napi::Value ifaces = o.Get("interfaces");
      if (ifaces.IsArray()) {
        Napi::Array a = ifaces.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) live.interfaces.push_back(a.Get(i).ToString().Utf8Value());
      }
      live.filter = StringOption(o, "filter");
      live.snaplen = static_cast<int>(NumberOption(o, "snaplen", 256));
      live.promiscuous = o.Get("promiscuous").ToBoolean().Value();
      live.buffer_bytes = static_cast<int>(NumberOption(o, "bufferBytes", 32 << 20));
      live.rescan_ms = static_cast<int>(NumberOption(o, "rescanMs", 1000));
      tap_ = sf::OpenPcapLive(live, common, &error);
    } else if (kind == "synthetic") {
      sf::SyntheticOptions s;
      s.flows = static_cast<uint32_t>(NumberOption(o, "flows", 1000));
      s.rate = NumberOption(o, "rate", 0);
      s.endpoints = static_cast<uint32_t>(NumberOption(o, "endpoints", 1000));
      s.skew = NumberOption(o, "skew", 1.0);
      s.local_endpoints = static_cast<uint32_t>(NumberOption(o, "localEndpoints", 0));
      s.limit = static_cast<uint64_t>(NumberOption(o, "limit", 0));
      s.seed = static_cast<uint64_t>(NumberOption(o, "seed", 1));
      tap_ = sf::OpenSynthetic(s, common, &error);
    } else if (kind == "ebpf") {
      sf::EbpfOptions e;
      e.interfaces = StringArrayOption(o, "interfaces");
      e.host_interfaces = StringArrayOption(o, "hostInterfaces");
      e.rescan_ms = static_cast<int>(NumberOption(o, "rescanMs", 1000));
      e.sweep_ms = static_cast<int>(NumberOption(o, "sweepMs", 1000));
      e.ring_bytes = static_cast<uint32_t>(NumberOption(o, "ringBytes", 1 << 20));
      if (o.Get("attach").IsString()) e.attach = StringOption(o, "attach");
      tap_ = sf::OpenEbpf(e, common, &error);
    } else {
      error = {"ERR_TAP_OPEN", "unknown tap kind '" + kind + "'"};
    }
    if (!tap_) {
      addon_->Throw(env, error.code, error.message);
      return;
    }
    addon_->open.insert(this);
  }

  ~TapWrap() override {
    CloseNative();
  }

  void CloseNative() {
    if (tap_) tap_->Close();  // joins the worker first, so no call into the TSFN can follow
    if (started_) {
      tsfn_.Release();
      started_ = false;
    }
    if (addon_) addon_->open.erase(this);
  }

 private:
  // start(onReady): onReady() is called on the JavaScript thread when records (or the end) wait to be read.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!tap_ || !info[0].IsFunction()) {
      Napi::TypeError::New(env, tap_ ? "start(onReady: () => void)" : "tap is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (started_) return env.Undefined();
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "shadowflow-tap", 0, 1);
    started_ = true;
    Napi::ThreadSafeFunction tsfn = tsfn_;
    tap_->Start([tsfn]() mutable { tsfn.NonBlockingCall(); });
    return env.Undefined();
  }

  // read(buffer): writes a batch header and as many records as fit; returns the record count.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(env, "read(buffer: Uint8Array)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
    if (buf.ByteLength() < sizeof(sf_batch_header) + SF_RECORD_SIZE) {
      Napi::RangeError::New(env, "read(buffer): buffer smaller than one batch header and one record").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t n = 0;
    if (tap_) {
      const size_t cap = (buf.ByteLength() - sizeof(sf_batch_header)) / SF_RECORD_SIZE;
      n = static_cast<uint32_t>(tap_->Read(buf.Data() + sizeof(sf_batch_header), cap));
    }
    sf_batch_header h = {SF_BATCH_MAGIC, SF_RECORD_LAYOUT_VERSION, SF_RECORD_SIZE, n, 0};
    std::memcpy(buf.Data(), &h, sizeof(h));
    return Napi::Number::New(env, n);
  }

  // status(): { done, error? } — done once the source ended and every record was read.
  Napi::Value Status(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    const bool done = !tap_ || tap_->Done();
    out.Set("done", Napi::Boolean::New(env, done));
    if (tap_ && done) {
      const sf::TapError e = tap_->Error();
      if (!e.ok()) out.Set("error", addon_->MakeError(env, e));
    }
    return out;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object out = Napi::Object::New(env);
    if (!tap_) return out;
    for (const auto& kv : tap_->Stats()) out.Set(kv.first, Napi::Number::New(env, kv.second));
    for (const auto& kv : tap_->Labels()) out.Set(kv.first, Napi::String::New(env, kv.second));
    return out;
  }

  Napi::Value Interfaces(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::string> names = tap_ ? tap_->InterfaceNames() : std::vector<std::string>();
    Napi::Array out = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
    return out;
  }

  // close(): stops capturing and joins the worker; records already queued stay readable.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNative();
    return info.Env().Undefined();
  }

  TapAddon* addon_ = nullptr;
  std::unique_ptr<sf::Tap> tap_;
  Napi::ThreadSafeFunction tsfn_;
  bool started_ = false;
};

Napi::Function TapAddon::InitTap(Napi::Env env) {
  Napi::Function ctor = TapWrap::Define(env);
  tap_constructor_ = Napi::Persistent(ctor);
  return ctor;
}

void TapAddon::CloseAll() {
  std::set<TapWrap*> copy = open;
  for (TapWrap* t : copy) t->CloseNative();
}

}  // namespace

NODE_API_ADDON(TapAddon)
