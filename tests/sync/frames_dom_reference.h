// The DOM-based sync frame decoder from before the SAX decoder, for differential tests only
// (see frames_dom_reference.cc). Same contract as loyalty::sync::decode_frame / decode_entry.
#pragma once

#include <string_view>

#include "sync/protocol/frames.h"

namespace loyalty::sync::reference {

domain::Result<Frame> decode_frame(std::string_view text);
domain::Result<Entry> decode_entry(std::string_view text);

}  // namespace loyalty::sync::reference
