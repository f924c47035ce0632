"""Offline STT platform for the voice-assistant test.

engine_id: "sip_test_stt" (legacy platform: `stt: - platform: sip_test_stt`).
It cannot recognise speech: it keeps the audio the pipeline streams to it in
`<config>/stt_received.wav` (16 kHz mono 16-bit, rewritten per request, so a test
can check what the caller said reached Home Assistant) and answers with the
configured `text` (default "turn on SIP test switch").
"""
from __future__ import annotations

from collections.abc import AsyncIterable
import logging
import wave

from homeassistant.components.stt import (
    AudioBitRates,
    AudioChannels,
    AudioCodecs,
    AudioFormats,
    AudioSampleRates,
    Provider,
    SpeechMetadata,
    SpeechResult,
    SpeechResultState,
)

_LOGGER = logging.getLogger(__name__)


async def async_get_engine(hass, config, discovery_info=None) -> Provider:
    """Set up the engine."""
    return SipTestStt(
        hass.config.path("stt_received.wav"),
        config.get("text", "turn on SIP test switch"),
    )


class SipTestStt(Provider):
    """Keeps the audio, answers a fixed text."""

    def __init__(self, path: str, text: str) -> None:
        self._path = path
        self._text = text

    @property
    def supported_languages(self) -> list[str]:
        return ["en", "en-US", "en-GB"]

    @property
    def supported_formats(self) -> list[AudioFormats]:
        return [AudioFormats.WAV]

    @property
    def supported_codecs(self) -> list[AudioCodecs]:
        return [AudioCodecs.PCM]

    @property
    def supported_bit_rates(self) -> list[AudioBitRates]:
        return [AudioBitRates.BITRATE_16]

    @property
    def supported_sample_rates(self) -> list[AudioSampleRates]:
        return [AudioSampleRates.SAMPLERATE_16000]

    @property
    def supported_channels(self) -> list[AudioChannels]:
        return [AudioChannels.CHANNEL_MONO]

    async def async_process_audio_stream(
        self, metadata: SpeechMetadata, stream: AsyncIterable[bytes]
    ) -> SpeechResult:
        audio = bytearray()
        async for chunk in stream:
            audio += chunk
        with wave.open(self._path, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(16000)
            wav.writeframes(bytes(audio))
        _LOGGER.info("heard %.2f s of audio; answering %r", len(audio) / 32000, self._text)
        return SpeechResult(self._text, SpeechResultState.SUCCESS)
